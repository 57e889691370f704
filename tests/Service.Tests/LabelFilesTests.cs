using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Service.Validation;

namespace ConvNeXt.Batch.Service.Tests;

/// <summary>The library's label-file sniffing, which <c>validate --labels</c> relies on to tell a class table from a ground truth.</summary>
public class LabelFilesTests
{
    [Theory]
    [InlineData("val.txt", true)]                                        // file and class index per line
    [InlineData("ILSVRC2012_validation_ground_truth.txt", true)]         // devkit: one class id per line
    [InlineData("LOC_synset_mapping.txt", false)]                        // wnid and names
    [InlineData("synset_words.txt", false)]
    public void Ground_truth_lists_and_class_tables_are_told_apart_by_content(string file, bool groundTruth)
    {
        Repository.RequireShared();
        Assert.Equal(groundTruth, LabelFiles.IsGroundTruth(Repository.Data("imagenet-labels", file)));
    }

    [Fact]
    public void The_dataset_options_follow_the_kind_of_ground_truth()
    {
        Repository.RequireShared();
        Assert.Equal(DatasetLayout.ValList, LabelFiles.DatasetOptions(Repository.Data("imagenet-labels", "val.txt")).Layout);
        var devkit = LabelFiles.DatasetOptions(Repository.Data("imagenet-labels", "ILSVRC2012_validation_ground_truth.txt"));
        Assert.Equal(DatasetLayout.DevkitGroundTruth, devkit.Layout);
        Assert.Equal(Repository.Data("imagenet-labels", LabelledDataset.DevkitMapFileName), devkit.DevkitMapFile);
        Assert.Null(LabelFiles.DatasetOptions(null).LabelFile);
    }

    [Fact]
    public void The_class_table_beside_a_ground_truth_is_found_only_when_it_is_there()
    {
        Repository.RequireShared();
        Assert.Equal(Repository.LabelsFile, LabelFiles.ClassTableBeside(Repository.Data("imagenet-labels", "val.txt")));
        var alone = Path.Combine(Directory.CreateTempSubdirectory("labels-").FullName, "val.txt");
        File.WriteAllText(alone, "a.JPEG 1\n");
        Assert.Null(LabelFiles.ClassTableBeside(alone));
    }
}
